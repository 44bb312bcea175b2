"""Many hosts: Ansible-style inventories, targets, the rollout scheduler and saved plans."""
