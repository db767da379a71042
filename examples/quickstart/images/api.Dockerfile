# The API: busybox httpd serving /health (with the release) and a page.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ARG RELEASE=dev
COPY www/ /www/
RUN printf '{"status":"ok","release":"%s"}\n' "$RELEASE" > /www/health
EXPOSE 8080
CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
