"""The pure core: playbooks and their sandboxed rendering, the field table, container specs, plans,
the ``docker run`` view and redaction. Plain data in, plain data out: nothing here imports docker,
paramiko, fabric, click, rich or the host layer, so all of it is tested on inspect JSON."""
