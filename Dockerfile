# streamrls: one static binary for every role (process, serve, emit, replay,
# broker). Build: docker build -t streamrls .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (LevelDB is goleveldb): a static binary for a distroless image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/streamrls ./cmd/streamrls \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/streamrls /usr/local/bin/streamrls
# The state directory, owned by the nonroot user so that a fresh named
# volume mounted here is writable.
COPY --from=build --chown=65532:65532 /out/state /var/lib/streamrls
VOLUME ["/var/lib/streamrls"]
USER nonroot:nonroot
EXPOSE 8080 9100
ENTRYPOINT ["/usr/local/bin/streamrls"]
CMD ["--help"]
