"""Python's smtplib sends one message over STARTTLS, trusting only the test CA.

usage: smtplib_starttls.py CAFILE PORT FROM TO
Prints the TLS version and the server's answer to the message.
"""
import smtplib
import ssl
import sys
from email.message import EmailMessage

cafile, port, sender, recipient = sys.argv[1:5]
context = ssl.create_default_context(cafile=cafile)
context.check_hostname = False  # the certificate names 127.0.0.1 as an IP address; the chain is still checked
message = EmailMessage()
message["From"] = sender
message["To"] = recipient
message["Subject"] = "smtplib over tls"
message.set_content("sent with STARTTLS")
with smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.test") as smtp:
    smtp.ehlo()
    assert smtp.has_extn("starttls"), "no STARTTLS in EHLO"
    smtp.starttls(context=context)
    smtp.ehlo()
    assert not smtp.has_extn("starttls"), "STARTTLS offered again over TLS"
    print(smtp.sock.version(), smtp.send_message(message))
