"""Notifications: the right message to the right person, exactly once, in French.

- `messages`: one class per message (the role it is written for, its category, its templates);
- `context` reads what a message says from the database at send time (never from workflow
  history), `rendering` turns a message and its context into subject, text and HTML;
- `recipients` turns an outbox row's role into addresses, `preferences` what each
  professional chose to receive, `delivery` records one row per (notice, address) and
  sends it through a `sender` (aiosmtplib), `digest` folds stalls and reminders into one
  daily mail, `letters` prints a beneficiary's message, `sink` is the embedded SMTP server.
"""
