"""Tags of one test image for the ``image`` change (an upgrade): each sets the defaults an image
can supply (env, labels, workdir, command, exposed ports) differently, so the tests see which
settings follow the new image and which the user set stay. Built from the local busybox test image."""

from __future__ import annotations

BUSYBOX = "remediate-test/busybox:1"

#: Tag -> Dockerfile. ``2`` changes every default of ``1``; ``broken`` exits at once (a failing upgrade).
DOCKERFILES = {
    "1": f"""\
FROM {BUSYBOX}
ENV APP_VERSION=1 GREETING=hello-one
LABEL org.example.version=1
EXPOSE 9001/tcp
WORKDIR /v1
CMD ["sh", "-c", "echo v1; exec sleep 3600"]
""",
    "2": f"""\
FROM {BUSYBOX}
ENV APP_VERSION=2 GREETING=hello-two APP_NEW=yes
LABEL org.example.version=2
EXPOSE 9002/tcp
WORKDIR /v2
CMD ["sh", "-c", "echo v2; exec sleep 3600"]
""",
    "broken": f"""\
FROM {BUSYBOX}
ENV APP_VERSION=broken
CMD ["sh", "-c", "echo cannot start; exit 3"]
""",
}
