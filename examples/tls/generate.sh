#!/bin/sh
# Makes the test certificates the tls_echo_* examples embed: a CA (ca.pem) and a server
# certificate for localhost and 127.0.0.1 it signs (server.pem, server.key). For examples
# only: the keys are public. Run from this directory.
set -eu
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
    -subj "/CN=twinloop example CA" -keyout ca.key -out ca.pem
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 \
    -extfile server.ext -out server.pem
rm -f server.csr server.ext ca.key ca.srl
