# A small image: the static binary, the example scripts, and the interpreters
# they need. Build: docker build --build-arg VERSION=$(git describe --tags --always) \
#   --build-arg COMMIT=$(git rev-parse HEAD) -t wirebot .
# Run: docker run -d -v wirebot-state:/var/lib/wirebot -e WIREBOT_ADAPTER=slack \
#   -e WIREBOT_SLACK_BOT_TOKEN_FILE=/run/secrets/slack-bot ... wirebot
# (the shell adapter needs -it: without a terminal or piped input it exits
# with a message saying so).
FROM golang:1.26-bookworm AS build
ARG VERSION=devel
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
COPY third_party ./third_party
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -tags grpcnotrace \
    -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o /out/wirebot .

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates procps \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/wirebot --create-home wirebot
COPY --from=build /out/wirebot /usr/local/bin/wirebot
COPY scripts /etc/wirebot/scripts
USER wirebot
WORKDIR /var/lib/wirebot
ENV WIREBOT_SCRIPTS_DIR=/etc/wirebot/scripts WIREBOT_DATA_FILE=/var/lib/wirebot/wirebot.db \
    WIREBOT_HTTP_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/wirebot"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/usr/local/bin/wirebot", "health"]
ENTRYPOINT ["/usr/local/bin/wirebot"]
CMD ["run"]
