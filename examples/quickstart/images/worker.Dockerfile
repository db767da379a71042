# The worker: polls the API and keeps the last answer, which its health check reads.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp && chmod 1777 /tmp
COPY worker/poll /bin/poll
CMD ["/bin/poll"]
