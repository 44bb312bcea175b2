"""Domain packs: checks, diagnoses and the playbooks and templates that fix what they find."""
