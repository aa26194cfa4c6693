# A small image: the static binary, the example scripts, and the interpreters
# they need. Build: docker build -t wirebot .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/wirebot .

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates procps \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/wirebot --create-home wirebot
COPY --from=build /out/wirebot /usr/local/bin/wirebot
COPY scripts /etc/wirebot/scripts
USER wirebot
WORKDIR /var/lib/wirebot
ENV WIREBOT_SCRIPTS_DIR=/etc/wirebot/scripts WIREBOT_DATA_FILE=/var/lib/wirebot/wirebot.db
ENTRYPOINT ["/usr/local/bin/wirebot"]
CMD ["run"]
