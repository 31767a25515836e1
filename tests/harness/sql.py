"""Small SQL helpers the integration tests share (through the `db` fixture's connection)."""


def one(db, sql, *args):
    """The first column of the first row of `sql`."""
    return db.execute(sql, args).fetchone()[0]


def day(db, offset):
    """The database's current date plus `offset` days, as YYYY-MM-DD."""
    return one(db, "SELECT (current_date + %s::int)::text", offset)
