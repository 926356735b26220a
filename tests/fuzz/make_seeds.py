#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus (run from anywhere; it
rewrites only files named seed-*). Inputs a fuzzer found and that broke a
property are kept beside them as crash-* and never rewritten here."""
import hashlib
import os
import struct

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(TOP, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


UTF8 = [b"", b"hello", b"caf\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80",
        b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
        b"\xed\x9f\xbf", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80", b"\xff", b"\x80", b"\xe2\x82", b"abcdefg\xc3",
        b"abcdefgh\xc3\xa9ijklmnop", b"\xea\xb0\x80\xeb\x82\x98 chat",
        b"12345678\xf0\x9f\x98", b"\x00\x01\x7f"]

# chat event data as the chat and payment modules write it
ROOM = "r_97c204969eda5183"
USER = "u_7960f6f39aa724d1"
EVENTS = [
    ("chat.room_created", '{"room":"%s","kind":"group","title":"bench 0",'
     '"context":null,"created_by":"%s","members":["%s","u_bd04d8d1cc805884"]}'
     % (ROOM, USER, USER)),
    ("chat.message_posted", '{"room":"%s","id":"m_494d7ce7c86989eb","seq":1,'
     '"sender":"%s","kind":"text","text":"hi \\"you\\"\\n\\u00e9\\ud83d\\ude00",'
     '"client_msg_id":"b1-1"}' % (ROOM, USER)),
    ("chat.message_edited", '{"room":"%s","seq":1,"text":"edited","by":"%s"}'
     % (ROOM, USER)),
    ("chat.message_deleted", '{"room":"%s","seq":1,"by":"%s"}' % (ROOM, USER)),
    ("chat.read", '{"room":"%s","user":"%s","seq":12}' % (ROOM, USER)),
    ("payment.transfer_completed", '{"transfer":"t_1","from":"%s","to":"u_2",'
     '"amount":1500,"currency":"KRW","room":"%s","note":null,"ok":true,'
     '"fee":0.5,"tags":[1,"a",{"b":[]}],"meta":{}}' % (USER, ROOM)),
    ("identity.user_created", '{"id":"%s","name":"bench-sender","kind":"user"}'
     % USER),
]

BODIES = ['{"text":"hello"}', '{"text":"hi","client_msg_id":"c-1"}',
          '{"text":"hi","kind":"text","client_msg_id":null}',
          '{"text":"hi","kind":"system"}', '{"text":"   "}', '{"text":""}',
          '{"text":5}', '{"text":"a","text":"b"}', '{"text":"\\u0000"}',
          '{"text":"\\ud800"}', '{"text":"\\ud83d\\ude00"}',
          '{"t\\u0065xt":"x"}', ' { "text" : "x" , "client_msg_id" : "y" } ',
          '{"text":"x",}', '{"text":"x"', '[1,2]', '"text"', '{}', '',
          '{"text":"x","extra":{"a":[1,2,{"b":null}]}}',
          '{"text":"x","n":-0.5e+10,"big":123456789012345678901234567890}',
          '{"text":"x","client_msg_id":"\\u0041\\t"}', '{"text":"x"} x',
          '{"text":"' + "x" * 4001 + '"}', '{"text":"\xc3\xa9"}',
          '{"a":' * 70 + '1' + '}' * 70, '{"a":' + '[' * 63 + ']' * 63 + '}']


# request targets: a method byte (low 4 bits: GET POST PUT PATCH DELETE
# HEAD OPTIONS PURGE get ? GETS ET POS GE T TRACE; high 4: the room for a
# preflight's Allow list), then "path?query"
TARGETS = [
    (0, "/v1/rooms"), (1, "/v1/rooms"), (3, "/v1/rooms"), (4, "/v1/rooms"),
    (0, "/v1/rooms/search"), (0, "/v1/rooms/r_97c204969eda5183"),
    (0, "/v1/rooms/r%201"), (7, "/v1/rooms/r1"), (8, "/v1/rooms/r1"),
    (0, "/v1/rooms/r1/messages?before=12&limit=20"),
    (1, "/v1/rooms/r1/messages"), (11, "/v1/rooms/r1/messages"),
    (3, "/v1/rooms/a%2Fb%20c%C3%A9/messages/7?q=x+y%2Bz%26&flag&q=second"),
    (4, "/v1/rooms/r1/messages/9"), (0, "/v1/rooms/r1/messages/9"),
    (4, "/v1/rooms/r1/members/u1"), (1, "/v1/rooms/r1/members"),
    (0, "/v1/users/u1"), (0, "/v1/users/search"), (0, "/v1/things/search"),
    (2, "/v1/users/u1/block"), (1, "/v1/users/u1/block"),
    (0, "/v1/%72ooms/%2e%2E"), (0, "/v1/rooms/"), (0, "/v1//rooms"),
    (0, "/v1/rooms/%zz"), (0, "/v1/rooms/a%00b"), (0, "/v1/rooms/%ff"),
    (0, "/v1/rooms/%e2%82%ac"), (0, "/v1/rooms/%ED%A0%80"),
    (0, "/v1/rooms/%4"), (0, "/v1/rooms/%"), (0, "/v1/rooms/%2"),
    (0, "/v1/rooms/\xc3\xa9"), (0, "/v1/rooms/r1/messages?limit=%ff"),
    (0, "/v1/sync?q=%ff&q=1"), (0, "/v1/rooms?a=1&&b=&=c&d=e=f&a=2&+=%2B"),
    (0, "/v1/rooms?" + "&".join("k%d=%d" % (i, i) for i in range(70))
     + "&bad=%zz"),
    (0, "/v1/rooms?" + "&".join("k%d=%d" % (i, i) for i in range(60))
     + "&bad=%zz"),
    (0, "/healthz"), (0x20, "/healthz"), (0, "/"), (1, "/"), (0, ""),
    (0, "v1/rooms"), (0, "/v1/ws?x"), (6, "/v1/rooms/r1/messages/1"),
    (0x16, "/v1/rooms"), (0x36, "/v1/rooms/r1/messages"),
    (0x76, "/v1/rooms/r1/messages"), (0x96, "/v1/rooms/r1"),
    (0, "/deep" + "/p" * 31), (0, "/deep" + "/p" * 30 + "/"),
    (0, "/deep" + "/p" * 32), (0, "/deep" + "/p" * 31 + "/%zz"),
    (0, "/deep" + "/p" * 20 + "/%zz" + "/p" * 20),
]

# Authorization and X-Request-Id: a control byte (low 3 bits: the token
# buffer's size index; 8: no Authorization header), the header, NUL, the id
AUTH = [
    (0, "Bearer user-token", "req-1"), (0, "bearer   u-1", "a.b:c_d-E9"),
    (0, "BEARER\ts-token\t", ""), (0, "  Bearer a1 ", None),
    (0, "Bearer n1", "x" * 128), (0, "Bearer !fail", "x" * 129),
    (0, "Bearer unknown", "bad id"), (0, "Bearer", "\xc3\xa9"),
    (0, "Bearer ", "1"), (0, "Bearerx u1", "-"), (0, "Basic dXNlcjpwdw==", "."),
    (0, "Bearer u1 u2", "id/1"), (0, "Bearer\vu1", "id"),
    (0, "Bearer u" + "1" * 1023, None), (0, "Bearer u" + "1" * 1022, None),
    (1, "Bearer u", None), (2, "Bearer u", None), (2, "Bearer u1", None),
    (4, "Bearer u123456", None), (4, "Bearer u1234567", None),
    (8, "", "req-2"), (8, "", None), (0, "", None), (0, " \t ", None),
    (0, "bEaReR\t \tsvc \t", "r"),
]

# chat query strings: a control byte (low 3 bits: the range of
# chat_parse_u64; 0x10, 0x20, 0x40: a history query gives before, after,
# limit), then up to three NUL-separated strings
QUERIES = [
    (0, ["AQAAAAAAAAAB"]), (0, ["AQAAAAAAAAAA"]), (0, ["AP__________"]),
    (0, ["Af__________"]), (0, ["AgAAAAAAAAAB"]), (0, ["AQAAAAAAAAA"]),
    (0, ["AQAAAAAAAAABA"]), (0, ["AQAAAAAAAA+/"]), (0, ["AQAAAAAAAA=="]),
    (0, ["AQAAAAAAAAAF"]), (0, ["AAAAAAAAAAAF"]), (0, ["\x01\x02\x03\x04"
                                                       "\x05\x06\x07\x08"]),
    (0, ["18446744073709551615"]), (0, ["18446744073709551616"]),
    (0, ["99999999999999999999"]), (0, ["00000000000000000001"]),
    (0, ["000000000000000000001"]), (0, ["0"]), (0, [""]), (0, ["-1"]),
    (0, ["+1"]), (0, [" 1"]), (0, ["1 "]), (0, ["0x10"]),
    (1, ["9223372036854775807"]), (1, ["9223372036854775808"]), (1, ["0"]),
    (3, ["100"]), (3, ["101"]), (3, ["050"]), (4, ["5"]), (4, ["05"]),
    (5, ["18446744073709551615"]), (6, ["5"]), (7, ["0"]), (7, ["00"]),
    (0x10, ["12", "", ""]), (0x20, ["", "12", ""]), (0x30, ["1", "2"]),
    (0x50, ["7", "", "20"]), (0x60, ["", "0", "0"]), (0x40, ["", "", "100"]),
    (0x10, ["9223372036854775808"]), (0x60, ["", "9223372036854775807", "1"]),
    (0, ["r_97c204969eda5183"]), (0, ["a/b"]), (0, ["a b"]), (0, ["~!"]),
    (0, ["x" * 100]), (0, ["x" * 101]), (0, ["\x7f"]), (0, ["\xc3\xa9"]),
]


def esc(s):
    """Text with \\xNN, \\t and \\v escapes as bytes."""
    return s.encode().decode("unicode_escape").encode("latin-1")


def record(type_, stream, corr, actor, data, v=1, time_ms=1795000000123,
           ver=3):
    t, s, c, a, d = (x.encode() for x in (type_, stream, corr, actor, data))
    hdr = struct.pack(">BBBBB3xIIqQ", 1, len(t), len(s), len(c), len(a), v,
                      len(d), time_ms, ver)
    return hdr + b"\0".join([t, s, c, a, d]) + b"\0"


def main():
    for u in UTF8:
        write("fuzz_utf8", u)
    for b in BODIES:
        write("fuzz_chat_json", b)
    for i, (t, d) in enumerate(EVENTS):
        write("fuzz_chat_json", d)
        write("fuzz_analytics_record", bytes([i & 15]) + d.encode())
        rec = record(t, "room:" + ROOM, "req-%d" % i, "user:" + USER, d)
        write("fuzz_codec", rec)
        write("fuzz_codec", rec[:-1])  # truncated
        write("fuzz_codec", struct.pack("<qQI", 1795000000123, 3, 1) + b"\0" * 4
              + "\n".join([t, "room:" + ROOM, "", "admin", d]).encode())
    # frame tracker: a frame count, 3 bytes per frame (FIN|mask|opcode
    # index, length form and size, size), then read sizes
    write("fuzz_ws_tracker", bytes([1, 0x81, 0x05, 0]))
    write("fuzz_ws_tracker", bytes([3, 0x01, 0x8a, 7, 0x83, 0x00, 0, 0x80,
                                    0xc3, 2, 1, 1, 1, 2, 3, 5, 8, 13]))
    write("fuzz_ws_tracker", bytes([4, 0x42, 0x10, 0, 0x84, 0x00, 0, 0x40,
                                    0xff, 40, 0xc0, 0x01, 0] + [0] * 40))
    write("fuzz_analytics_record", b"\x00{}")
    write("fuzz_analytics_record", b"\x01[1]")
    write("fuzz_analytics_record", b'\x02{"a":{"b":{"c":1}},"a.b":2}')
    write("fuzz_analytics_record", b'\x03{"x":"\\u00e9\\/","y":1.0,"z":1e5}')
    for m, t in TARGETS:
        write("fuzz_http_router", bytes([m]) + esc(t))
    for c, h, i in AUTH:
        write("fuzz_http_auth", bytes([c]) + esc(h)
              + (b"" if i is None else b"\0" + esc(i)))
    for c, strs in QUERIES:
        write("fuzz_chat_query", bytes([c]) + b"\0".join(esc(x) for x in strs))


if __name__ == "__main__":
    main()
