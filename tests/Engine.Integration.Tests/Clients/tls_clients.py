"""Python's imaplib and poplib over TLS against the engine, trusting only the test CA.

usage: tls_clients.py CAFILE IMAP_PORT IMAPS_PORT POP3_PORT POP3S_PORT USER PASSWORD
Prints one line per session: protocol, TLS version, and what the session saw.
"""
import imaplib
import poplib
import ssl
import sys

cafile, imap_port, imaps_port, pop3_port, pop3s_port, user, password = sys.argv[1:8]
context = ssl.create_default_context(cafile=cafile)
context.check_hostname = False  # the certificate names 127.0.0.1 as an IP address; the chain is still checked

imap = imaplib.IMAP4("127.0.0.1", int(imap_port))
imap.starttls(ssl_context=context)
imap.login(user, password)
typ, data = imap.select("INBOX")
print("imap-starttls", imap.sock.version(), typ, data[0].decode())
imap.logout()

imaps = imaplib.IMAP4_SSL("127.0.0.1", int(imaps_port), ssl_context=context)
imaps.login(user, password)
typ, data = imaps.select("INBOX")
print("imaps", imaps.sock.version(), typ, data[0].decode())
imaps.logout()

pop = poplib.POP3("127.0.0.1", int(pop3_port))
pop.stls(context=context)
pop.user(user)
pop.pass_(password)
print("pop3-stls", pop.sock.version(), pop.stat()[0])
pop.quit()

pops = poplib.POP3_SSL("127.0.0.1", int(pop3s_port), context=context)
pops.user(user)
pops.pass_(password)
print("pop3s", pops.sock.version(), pops.stat()[0])
pops.quit()
