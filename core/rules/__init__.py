"""Pure rules, no I/O: wall times, queue, caps and gaps (timing), what an attempt's outcome means (outcomes),
the platform limits declaration (limits), the one validator over it (validation), and who may do what (permissions).

Imports only core.domain and core.infra."""
