# A TCP proxy in front of the API: busybox nc, one forwarder per connection.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY proxy-forward /bin/proxy-forward
EXPOSE 8080
CMD ["/bin/busybox", "nc", "-ll", "-p", "8080", "-e", "/bin/proxy-forward"]
