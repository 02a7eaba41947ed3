"""A real WebSocket client (python3-websocket) for the end-to-end tests: text and binary echo through Postern."""
import sys

import websocket

url, host = sys.argv[1], sys.argv[2]
ws = websocket.create_connection(url, host=host, timeout=10)
ws.send("Websocket Support!")
text = ws.recv()
assert text == "Websocket Support!", text
ws.send_binary(bytes([1, 2, 3, 4, 5, 6, 7]))
op, data = ws.recv_data()
assert op == websocket.ABNF.OPCODE_BINARY and data == bytes([1, 2, 3, 4, 5, 6, 7]), (op, data)
big = "x" * 200000
ws.send(big)
assert ws.recv() == big
ws.close()
print("OK")
