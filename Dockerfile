# remediate as an image, for hosts where Python installs are not allowed. Built offline from
# `bash dev/release` (dist/: the wheel and a wheelhouse for CPython 3.11 on glibc):
#   bash dev/release && docker build -t remediate .
#   docker run --rm -it -v /var/run/docker.sock:/var/run/docker.sock \
#     -v /var/lib/remediate:/var/lib/remediate remediate diagnose
# Playbooks that write host files (a chat template) see the host's files only where they are
# mounted at the same path: add -v /srv/ml:/srv/ml for a dest under /srv/ml. Over SSH
# (-H ssh://host) the files are the remote host's, as always.
# PYTHON_IMAGE: any image with CPython 3.11 and its venv module (python3.11 -m venv); pip is
# not needed in it (the wheelhouse brings its own).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
COPY dist/wheelhouse/ /tmp/wheelhouse/
COPY dist/remediate-*.whl /tmp/wheelhouse/
# pip runs from its own wheel, so the base image needs neither pip nor ensurepip
RUN set -e; python3 -m venv --without-pip /opt/remediate; \
    set -- /tmp/wheelhouse/pip-*.whl; \
    /opt/remediate/bin/python3 "$1/pip" install --no-cache-dir --no-index --find-links /tmp/wheelhouse remediate; \
    rm -rf /tmp/wheelhouse
# The journal and lock belong on the Docker host: mount its /var/lib/remediate here.
VOLUME /var/lib/remediate
ENV PATH=/opt/remediate/bin:$PATH
ENTRYPOINT ["remediate"]
CMD ["--help"]
