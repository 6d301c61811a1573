"""Process plumbing under everything but the domain: settings (the one reader of the environment), logs, secrets
(token encryption and log redaction).

Imports only core.domain."""
