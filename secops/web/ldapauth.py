"""Sign-in by LDAP / Active Directory bind (ldap3): the directory checks the password, secops never
sees a hash. The user must be listed in the required group when one is set."""

from __future__ import annotations

from secops.users.policy import LdapSettings


def ldap_bind(settings: LdapSettings, name: str, password: str) -> bool:
    """True when NAME binds with PASSWORD and (if set) is a member of the required group."""
    from ldap3 import BASE, Connection, Server
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars
    from ldap3.utils.dn import escape_rdn

    if not password:  # an empty password is an anonymous bind on many servers: never a sign-in
        return False
    user_dn = settings.user_dn.format(name=escape_rdn(name))
    server = Server(settings.url, connect_timeout=settings.timeout_seconds)
    try:
        conn = Connection(server, user=user_dn, password=password, receive_timeout=settings.timeout_seconds,
                          raise_exceptions=False)
        if not conn.bind():
            return False
        try:
            if settings.group_dn is None:
                return True
            found = conn.search(settings.group_dn, f"(|(member={escape_filter_chars(user_dn)})"
                                                   f"(uniqueMember={escape_filter_chars(user_dn)}))",
                                search_scope=BASE, attributes=[])
            return bool(found and conn.entries)
        finally:
            conn.unbind()
    except LDAPException:
        return False
