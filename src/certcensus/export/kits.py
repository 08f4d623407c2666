"""Platform kits: the certificate files a platform imports, plus INSTALL.txt with exact commands.

Roots (self-issued) and intermediates are told apart because several platforms file them in
different stores (Windows Root vs CA, macOS trusted vs plain). Roots are listed first: IBM i DCM
refuses an intermediate whose issuer it does not hold yet.
"""

from __future__ import annotations

from pathlib import Path

from certcensus.export.formats import JAVA_TRUSTSTORE_PASSWORD, _inside, write_java_truststore
from certcensus.export.names import java_alias, safe_file_stem
from certcensus.trust.certs import Cert

KITS = ("ibmi", "java", "debian", "rhel", "windows", "macos")
INSTALL_FILE_NAME = "INSTALL.txt"


def _ordered(certs: list[Cert]) -> list[Cert]:
    return sorted(certs, key=lambda c: (not c.is_self_issued, c.display_name))


def _kind(cert: Cert) -> str:
    return "root" if cert.is_self_issued else "intermediate"


def _write_pem_files(certs: list[Cert], directory: Path, suffix: str) -> list[tuple[Cert, Path]]:
    written = []
    for cert in certs:
        target = _inside(directory, f"{safe_file_stem(cert)}{suffix}")
        target.write_bytes(cert.pem)
        written.append((cert, target))
    return written


def _listing(files: list[tuple[Cert, Path]]) -> list[str]:
    return [
        f"  {path.name}  ({_kind(cert)}: {cert.subject.rfc4514_string()}; SHA-256 {cert.sha256})"
        for cert, path in files
    ]


def _ibmi(files: list[tuple[Cert, Path]]) -> list[str]:
    lines = [
        "IBM i: import these CA certificates into the *SYSTEM certificate store with DCM.",
        "Import in the order listed (roots first): DCM refuses an intermediate whose issuer",
        "it does not hold yet. DCM needs every CA of a path, intermediates included.",
        "",
        "1. Copy the .cer files (Base64 text) to the IFS, for example:",
        "     ssh USER@SYSTEM mkdir -p /home/certcensus",
        "     scp *.cer USER@SYSTEM:/home/certcensus/",
        "2. Open Digital Certificate Manager: http://SYSTEM:2001 (IBM i Tasks page) >",
        "   Digital Certificate Manager; where the new DCM is installed: http://SYSTEM:2006/dcm.",
        "   The HTTP admin server must run: STRTCPSVR SERVER(*HTTP) HTTPSVR(*ADMIN)",
        "3. Select a Certificate Store > *SYSTEM, and sign in with the store password.",
        "4. For each file below: Manage Certificates > Import certificate >",
        "   Certificate Authority (CA) > path /home/certcensus/<file> > give it a label.",
        "5. Applications that use a CA trust list (Manage Applications > Define CA trust",
        "   list) must also have the new CAs ticked.",
        "",
        "Files, in import order:",
    ]
    return lines + _listing(files)


def _java(files: list[tuple[Cert, Path]], truststore: Path) -> list[str]:
    password = JAVA_TRUSTSTORE_PASSWORD.decode()
    lines = [
        "Java: either use the ready truststore, or add the certificates to the JDK's cacerts.",
        "",
        f"A. Ready truststore ({truststore.name}, PKCS#12, password {password}):",
        f"     keytool -list -keystore {truststore.name} -storepass {password}",
        f"     java -Djavax.net.ssl.trustStore=/path/to/{truststore.name} \\",
        f"          -Djavax.net.ssl.trustStorePassword={password} \\",
        "          -Djavax.net.ssl.trustStoreType=PKCS12 ...",
        "",
        "B. Add to the JDK's cacerts (JDK 9+; older JDKs instead of -cacerts:",
        "   -keystore $JAVA_HOME/jre/lib/security/cacerts):",
    ]
    for cert, path in files:
        lines.append(
            f"     keytool -importcert -noprompt -trustcacerts -cacerts -storepass {password} "
            f"-alias {java_alias(cert)} -file {path.name}"
        )
    return lines + ["", "Files:"] + _listing(files)


def _debian(files: list[tuple[Cert, Path]]) -> list[str]:
    return [
        "Debian / Ubuntu: update-ca-certificates reads PEM files ending in .crt.",
        "",
        "     sudo mkdir -p /usr/local/share/ca-certificates/certcensus",
        "     sudo cp *.crt /usr/local/share/ca-certificates/certcensus/",
        "     sudo update-ca-certificates",
        "",
        "Files:",
    ] + _listing(files)


def _rhel(files: list[tuple[Cert, Path]]) -> list[str]:
    return [
        "RHEL / Fedora / CentOS / Rocky / Alma: PEM files in the anchors directory.",
        "",
        "     sudo cp *.pem /etc/pki/ca-trust/source/anchors/",
        "     sudo update-ca-trust extract",
        "",
        "Files:",
    ] + _listing(files)


def _windows(files: list[tuple[Cert, Path]]) -> list[str]:
    lines = [
        "Windows: from an elevated command prompt (roots to 'Root', intermediates to 'CA').",
        "For the current user only, add -user after certutil.",
        "",
    ]
    for cert, path in files:
        store = "Root" if cert.is_self_issued else "CA"
        lines.append(f'     certutil -addstore -f {store} "{path.name}"')
    return lines + ["", "Files:"] + _listing(files)


def _macos(files: list[tuple[Cert, Path]]) -> list[str]:
    lines = ["macOS: roots become trusted anchors; intermediates are only added.", ""]
    for cert, path in files:
        if cert.is_self_issued:
            lines.append(
                "     sudo security add-trusted-cert -d -r trustRoot "
                f'-k /Library/Keychains/System.keychain "{path.name}"'
            )
        else:
            lines.append(
                "     sudo security add-certificates "
                f'-k /Library/Keychains/System.keychain "{path.name}"'
            )
    return lines + ["", "Files:"] + _listing(files)


def write_kit(certs: list[Cert], directory: Path, platform: str) -> list[Path]:
    """Write the kit for `platform` into `directory`; return the files written, INSTALL.txt last."""
    if platform not in KITS:
        raise ValueError(f"unknown kit {platform!r}; expected one of {', '.join(KITS)}")
    directory.mkdir(parents=True, exist_ok=True)
    certs = _ordered(list({c.sha256: c for c in certs}.values()))
    extra: list[Path] = []
    if platform == "ibmi":
        files = _write_pem_files(certs, directory, ".cer")
        text = _ibmi(files)
    elif platform == "java":
        files = _write_pem_files(certs, directory, ".crt")
        truststore = write_java_truststore(certs, directory)
        extra.append(truststore)
        text = _java(files, truststore)
    elif platform == "debian":
        files = _write_pem_files(certs, directory, ".crt")
        text = _debian(files)
    elif platform == "rhel":
        files = _write_pem_files(certs, directory, ".pem")
        text = _rhel(files)
    elif platform == "windows":
        files = _write_pem_files(certs, directory, ".cer")
        text = _windows(files)
    else:
        files = _write_pem_files(certs, directory, ".pem")
        text = _macos(files)
    if not certs:
        text = ["Nothing to install: every observed chain is already trusted by this store."]
    install = _inside(directory, INSTALL_FILE_NAME)
    install.write_text("\n".join(text) + "\n")
    return [path for _, path in files] + extra + [install]
