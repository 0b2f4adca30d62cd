"""The embedded stack behind `passnum up`: dev server, database, worker and API in one process."""
