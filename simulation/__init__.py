"""`passnum simulate`: reading a programme and assumptions files, and writing what the
simulator (domain.simulation) found as text, PNG charts and an HTML page."""
