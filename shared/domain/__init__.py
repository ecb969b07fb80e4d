"""The rules of abuse-intake: what a report, a case, a custody event and a decision are, and what follows from them.

Nothing here imports boto3 or botocore, touches the network or reads the clock implicitly: the adapters
(shared.adapters) do the I/O and hand the domain plain values. `make lint` enforces the boundary (import-linter).
"""
