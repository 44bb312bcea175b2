#!/usr/bin/env python3
"""A dynamic inventory script: --list prints groups and _meta.hostvars as JSON."""
import json
import sys

if sys.argv[1:] == ["--list"]:
    print(json.dumps({
        "web": {"hosts": ["web2", "web1"], "vars": {"ansible_user": "deploy"}},
        "db": ["db1"],
        "prod": {"children": ["web", "db"], "vars": {"tier": "prod"}},
        "_meta": {"hostvars": {"web1": {"ansible_port": 2201}, "db1": {"ansible_host": "192.0.2.20"}}},
    }))
else:
    print("{}")
