#!/usr/bin/env python3
"""An IMAP session with Python's imaplib: login, select, search, fetch, store, expunge; prints JSON."""
import imaplib
import json
import sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
imap = imaplib.IMAP4("127.0.0.1", port)
out["capabilities"] = sorted(imap.capabilities)
typ, _ = imap.login(user, password)
out["login"] = typ
typ, data = imap.select("INBOX")
out["exists"] = int(data[0])
typ, data = imap.search(None, "UNSEEN")
out["unseen"] = data[0].decode().split()
typ, data = imap.search(None, "SUBJECT", '"second"')
out["subject"] = data[0].decode().split()
typ, data = imap.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.SIZE)")
out["header"] = data[0][1].decode()
typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
out["flags"] = [d.decode() for d in data]
typ, data = imap.fetch("2", "(RFC822)")
out["rfc822"] = data[0][1].hex()
typ, data = imap.fetch("2", "(FLAGS)")
out["seen_after_fetch"] = data[0].decode()
typ, data = imap.store("1", "+FLAGS", "(\\Deleted)")
out["store"] = [d.decode() for d in data]
typ, data = imap.expunge()
out["expunged"] = [d.decode() for d in data if d]
typ, data = imap.search(None, "ALL")
out["after"] = data[0].decode().split()
imap.close()
imap.logout()
print(json.dumps(out))
