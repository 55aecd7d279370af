import SMTPNIO
