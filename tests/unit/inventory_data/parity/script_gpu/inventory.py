#!/usr/bin/env python3
"""A GPU fleet's dynamic inventory script: groups with children, group vars, _meta hostvars
with the old ansible_ssh_* spellings and ports given as strings."""
import json
import sys

INVENTORY = {
    "all": {"vars": {"ansible_user": "cloud-user"}},
    "gpu": {"hosts": ["gpu-12", "gpu-10", "gpu-11"], "vars": {"ansible_ssh_user": "gpu"}},
    "cpu": {"hosts": ["cpu-1"]},
    "a100": {"hosts": ["gpu-10", "gpu-11"], "vars": {"ansible_port": "2210"}},
    "h100": {"hosts": ["gpu-12"]},
    "compute": {"children": ["gpu", "cpu"]},
    "_meta": {"hostvars": {
        "gpu-10": {"ansible_host": "10.20.0.10"},
        "gpu-11": {"ansible_ssh_host": "10.20.0.11", "ansible_host": "10.99.0.11"},
        "gpu-12": {"ansible_host": "10.20.0.12", "ansible_ssh_port": "2212"},
        "cpu-1": {"ansible_host": "10.30.0.1"},
    }},
}

if sys.argv[1:] == ["--list"]:
    print(json.dumps(INVENTORY))
else:
    print("{}")
