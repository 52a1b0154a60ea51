"""HTTP plumbing shared by every app: strict JSON parsing, problem+json errors, pagination, fields."""
