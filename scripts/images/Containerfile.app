# The sample application as a container image (one per release), FROM the
# locally imported runbook-service base. Build context: tests/sampleapp.
ARG BASE
FROM ${BASE}
ARG RELEASE
COPY myapp.py /opt/myapp/current/myapp.py
COPY releases/${RELEASE}/ /opt/myapp/current/
ENV MYAPP_RELEASE_DIR=/opt/myapp/current PYTHONUNBUFFERED=1
LABEL org.runbook.ops.image="myapp" org.runbook.ops.release="${RELEASE}"
CMD ["python3", "/opt/myapp/current/myapp.py", "serve"]
