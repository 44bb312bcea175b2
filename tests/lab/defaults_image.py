"""A test image with every default a `docker run` option can override (env, labels, ports,
healthcheck, workdir, user, volume, stop signal, entrypoint, cmd): the fidelity tests and the
captured inspect cases build it from the local busybox test image."""

BUSYBOX = "remediate-test/busybox:1"

DEFAULTS_DOCKERFILE = f"""\
FROM {BUSYBOX}
ENV APP_MODE=prod GREETING=hello
LABEL org.example.role=test
EXPOSE 9000/tcp
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["true"]
WORKDIR /srv
USER 1000:1000
VOLUME /cache
STOPSIGNAL SIGINT
ENTRYPOINT ["sh", "-c"]
CMD ["sleep 3600"]
"""
