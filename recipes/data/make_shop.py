"""Writes the illustrative shop database (schema.sql and one CSV per table) into data/shop/.

Deterministic: run it again and the files are byte-identical. Every name is invented.
    python recipes/data/make_shop.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "shop"
SCHEMA = """\
-- An illustrative shop (invented data, written by make_shop.py).
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
                        joined_year INTEGER NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL,
                       price REAL NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                     order_date TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id),
                          product_id INTEGER NOT NULL REFERENCES products(id),
                          quantity INTEGER NOT NULL);
"""
FIRST = [
    "Ada",
    "Bram",
    "Chloe",
    "Dario",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivo",
    "Jun",
    "Kira",
    "Luca",
    "Mina",
    "Noor",
    "Otto",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tove",
]
LAST = [
    "Alder",
    "Brook",
    "Castell",
    "Dunmore",
    "Eskel",
    "Fairholm",
    "Grieve",
    "Holt",
    "Ingram",
    "Joss",
]
CITIES = ["Lisbon", "Oslo", "Porto", "Lyon", "Leeds", "Graz", "Turku", "Gdansk"]
CATEGORIES = {
    "books": ["Atlas", "Cookbook", "Field Guide", "Novel", "Poetry Reader"],
    "garden": ["Rake", "Trowel", "Watering Can", "Seed Kit", "Planter"],
    "kitchen": ["Kettle", "Skillet", "Teapot", "Knife Set", "Cutting Board"],
    "toys": ["Kite", "Puzzle", "Yo-yo", "Marble Run", "Robot Kit"],
}
ADJECTIVES = ["Blue", "Compact", "Deluxe", "Classic"]
STATUSES = ["delivered", "shipped", "cancelled", "pending"]


def rows() -> dict[str, list[list[object]]]:
    rng = random.Random(20261124)
    customers = [
        [i, f"{rng.choice(FIRST)} {rng.choice(LAST)}", rng.choice(CITIES), rng.randint(2015, 2025)]
        for i in range(1, 61)
    ]
    products = []
    for category, items in CATEGORIES.items():
        for item in items:
            for adjective in ADJECTIVES[:2]:
                price = round(rng.uniform(3, 120), 2)
                products.append([len(products) + 1, f"{adjective} {item}", category, price])
    orders, order_items = [], []
    for i in range(1, 241):
        date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        orders.append([i, rng.randint(1, len(customers)), date, rng.choice(STATUSES)])
        for product in rng.sample(range(1, len(products) + 1), rng.randint(1, 3)):
            order_items.append([i, product, rng.randint(1, 4)])
    return {
        "customers": [["id", "name", "city", "joined_year"], *customers],
        "products": [["id", "name", "category", "price"], *products],
        "orders": [["id", "customer_id", "order_date", "status"], *orders],
        "order_items": [["order_id", "product_id", "quantity"], *order_items],
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "schema.sql").write_text(SCHEMA, encoding="utf-8")
    for table, table_rows in rows().items():
        with open(OUT / f"{table}.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(table_rows)


if __name__ == "__main__":
    main()
