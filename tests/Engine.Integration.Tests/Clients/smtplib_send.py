#!/usr/bin/env python3
"""Sends one message to 127.0.0.1:PORT with Python's smtplib and prints the reply to the end of data.

usage: smtplib_send.py PORT MODE   (MODE: plain, 8bit, smtputf8, bdat)
The message octets are also written to stdout's second line (escaped) so the test can compare them.
"""
import smtplib
import sys

port, mode = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30)
s.ehlo()
sender, rcpt, options = "a@client.test", "user@mx.test", []
if mode == "plain":
    msg = b"From: a@client.test\r\nTo: user@mx.test\r\nSubject: plain\r\n\r\nplain body\r\n"
elif mode == "8bit":
    options = ["BODY=8BITMIME"]
    msg = "From: a@client.test\r\nTo: user@mx.test\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n" \
          "Content-Transfer-Encoding: 8bit\r\n\r\nCaf\u00e9 cr\u00e8me\r\n".encode("utf-8")
elif mode == "smtputf8":
    sender, rcpt, options = "j\u00f6hn@ex\u00e4mple.org", "\u00fcser@mx.test", ["SMTPUTF8", "BODY=8BITMIME"]
    msg = "From: j\u00f6hn@ex\u00e4mple.org\r\nTo: \u00fcser@mx.test\r\nSubject: \u00fcnicode\r\n\r\nHall\u00f6\r\n".encode("utf-8")
elif mode == "bdat":
    msg = b"From: a@client.test\r\nTo: user@mx.test\r\nSubject: bdat\r\n\r\nchunked\r\n.\r\nnot the end\r\n"
else:
    sys.exit("unknown mode " + mode)

code, resp = s.mail(sender, options)
assert code == 250, (code, resp)
code, resp = s.rcpt(rcpt)
assert code == 250, (code, resp)
if mode == "bdat":
    half = len(msg) // 2
    s.send(b"BDAT %d\r\n" % half + msg[:half])
    code, resp = s.getreply()
    assert code == 250, (code, resp)
    s.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
    code, resp = s.getreply()
else:
    code, resp = s.data(msg)
s.quit()
print(code, resp.decode())
print(msg.hex())
