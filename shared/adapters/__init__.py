"""The edge of abuse-intake: one module per AWS resource, and the only code that holds an AWS client.

Each adapter takes its client as an argument (or makes one lazily through shared.adapters.aws), translates
ClientError codes into domain errors, and documents the shape of what it stores.
"""
