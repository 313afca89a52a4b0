"""Data access per domain: policy-filtered reads, writes with business rules, dataloaders.

Nothing here imports strawberry; the schema layer calls into these modules.
"""
