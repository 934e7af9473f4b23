-- An illustrative, invented medical knowledge graph (written by make_medgraph.py).
CREATE NODE TABLE Compound(id STRING, name STRING, phase INT64, PRIMARY KEY(id));
CREATE NODE TABLE Disease(id STRING, name STRING, category STRING, PRIMARY KEY(id));
CREATE NODE TABLE Gene(id STRING, name STRING, chromosome STRING, PRIMARY KEY(id));
CREATE NODE TABLE SideEffect(id STRING, name STRING, PRIMARY KEY(id));
CREATE REL TABLE TREATS(FROM Compound TO Disease);
CREATE REL TABLE BINDS(FROM Compound TO Gene, affinity DOUBLE);
CREATE REL TABLE CAUSES(FROM Compound TO SideEffect, frequency STRING);
CREATE REL TABLE ASSOCIATES(FROM Disease TO Gene);
