#!/usr/bin/python3
"""weights-server.py DIR PORTFILE: a local HTTP server for the download
tests (standard library only; nothing leaves 127.0.0.1).

Serves the files of DIR and writes the port it listens on to PORTFILE:
  /files/NAME  the file, with its Content-Length
  /cut/NAME    the same headers, half the body, then the connection closes
  /slow/NAME   the file in 64 KiB pieces, 50 ms apart (to cancel during)
  anything else: 404.
It stops by itself after 300 seconds, should the test not stop it.
"""
import http.server
import os
import socket
import sys
import threading
import time

ROOT = sys.argv[1]
PORTFILE = sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.split('/')
        path = os.path.join(ROOT, os.path.basename(parts[-1]))
        if len(parts) != 3 or parts[1] not in ('files', 'cut', 'slow') or not os.path.isfile(path):
            body = b'not found\n'
            self.send_response(404)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with open(path, 'rb') as f:
            data = f.read()
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        try:
            if parts[1] == 'files':
                self.wfile.write(data)
            elif parts[1] == 'cut':
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            else:
                for at in range(0, len(data), 65536):
                    self.wfile.write(data[at:at + 65536])
                    self.wfile.flush()
                    time.sleep(0.05)
        except OSError:
            self.close_connection = True   # the client went away (a cancel)


server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
server.daemon_threads = True
with open(PORTFILE + '.tmp', 'w') as f:
    f.write('%d\n' % server.server_address[1])
os.rename(PORTFILE + '.tmp', PORTFILE)
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(300)
