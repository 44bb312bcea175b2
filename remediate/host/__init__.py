"""One Docker host: the engine API client, file access on the host (local or SFTP) and the SSH
transport. The only layer that talks to docker-py and paramiko, and the only place their errors are
translated into :mod:`remediate.errors`."""
