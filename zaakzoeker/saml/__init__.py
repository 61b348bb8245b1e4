"""Login through SAML 2.0: DigiD for citizens, the municipality's IdP for staff.

EMO is the service provider; pysaml2 builds and reads the messages and
xmlsec1 checks every signature. One :class:`~zaakzoeker.saml.login.SamlLogin`
serves one identity provider, described by its metadata file.

DigiD answers with an artifact (``acs_binding="artifact"``): the browser
brings a SAMLart to the ACS, by GET, and EMO fetches the assertion from
DigiD over SOAP with two-way TLS. Employee IdPs (ADFS, Entra ID, Keycloak)
mostly POST the Response itself (``acs_binding="post"``).

What a login demands of an answer: a valid signature on the assertion by a
key in the IdP's metadata, this service provider in the audience, the time
window not passed, InResponseTo naming the request this browser started,
an answer not seen before, the configured DigiD level or higher, and (for
DigiD) a BSN that passes the 11-test.

The modules::

    config       SamlSettings, the DigiD LEVELS, pysaml2's configuration,
                 the SP's metadata
    login        SamlLogin: begin, finish (POST), finish_artifact, logout;
                 the replay guard
    answer       reading an answer: pysaml2's checks, the level, the BSN;
                 SamlIdentity
    artifact     resolving a SAMLart with the IdP over SOAP
    signature    the ArtifactResponse's signature, checked on the XML as
                 received (schema, SAML core 5.4, xmlsec1)
    errors       SamlFout and SamlInstellingFout; pysaml2's errors as redenen
    pysaml2_log  pysaml2's own log lines, kept short and without BSNs

No message of this package contains a BSN, and pysaml2's own log lines
(which quote assertions) are kept out of the logs except for warnings and
errors, with long digit runs blotted out.
"""
