"""Platform kits: the certificate files a platform imports, plus INSTALL.txt with exact commands.

Roots (self-signed) and intermediates are told apart because several platforms file them in
different stores (Windows Root vs CA, macOS trusted vs plain). Roots are listed first: IBM i DCM
refuses an intermediate whose issuer it does not hold yet. A kit never does harm: a root that
came from the server (or any source but a trust store the user gave) carries a loud warning to
check its fingerprint with the CA; the Java truststore is a copy of the user's store with the
missing CAs added, never a store of the missing CAs alone; a partial kit says what it lacks.
Every subject written into INSTALL.txt is passed through certs/text.py (a subject is data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from certcensus.certs.text import safe_text
from certcensus.export.formats import JAVA_TRUSTSTORE_PASSWORD, _inside
from certcensus.export.java import merged_truststore_name, write_merged_truststore
from certcensus.export.names import java_alias, safe_file_stem
from certcensus.trust.certs import Cert
from certcensus.trust.stores import KeystoreEntries

KITS = ("ibmi", "java", "debian", "rhel", "windows", "macos")
INSTALL_FILE_NAME = "INSTALL.txt"


@dataclass(frozen=True)
class KitNotes:
    """What a kit must say besides its files."""

    store: str | None = None  # the store the kit completes
    check: dict[str, str] = field(default_factory=dict)  # SHA-256 -> why to verify it first
    lacking: list[str] = field(default_factory=list)  # what the kit cannot contain, in words
    java_base: KeystoreEntries | None = None  # merge into a copy of this keystore
    java_password: str = JAVA_TRUSTSTORE_PASSWORD.decode()
    java_no_merge: str | None = None  # why no merged truststore is written


def _ordered(certs: list[Cert]) -> list[Cert]:
    return sorted(certs, key=lambda c: (not c.is_root, c.display_name))


def _kind(cert: Cert) -> str:
    return "root" if cert.is_root else "intermediate"


def _write_pem_files(certs: list[Cert], directory: Path, suffix: str) -> list[tuple[Cert, Path]]:
    written = []
    for cert in certs:
        target = _inside(directory, f"{safe_file_stem(cert)}{suffix}")
        target.write_bytes(cert.pem)
        written.append((cert, target))
    return written


def _listing(files: list[tuple[Cert, Path]]) -> list[str]:
    return [
        f"  {path.name}  ({_kind(cert)}: {safe_text(cert.subject.rfc4514_string())}; "
        f"SHA-256 {cert.sha256})"
        for cert, path in files
    ]


def warning_lines(certs: list[Cert], notes: KitNotes) -> list[str]:
    """The loud part: certificates to verify with the CA before importing them."""
    flagged = [c for c in certs if c.sha256 in notes.check]
    if not flagged:
        return []
    lines = [
        "WARNING: CHECK THESE CERTIFICATES WITH THE CA BEFORE YOU IMPORT THEM.",
        "Anyone can make a certificate with any name. Compare each SHA-256 below with the",
        "fingerprint the CA publishes (its website, its support, a colleague's trusted store);",
        "import only if they are equal.",
    ]
    for cert in flagged:
        lines.append(f"  {_kind(cert)} {safe_text(cert.subject.rfc4514_string())}")
        lines.append(f"    SHA-256 {cert.sha256}")
        lines.append(f"    why: {safe_text(notes.check[cert.sha256])}")
    return lines + [""]


def _lacking_lines(notes: KitNotes) -> list[str]:
    if not notes.lacking:
        return []
    lines = ["", "PARTIAL KIT: importing these files is not enough for every chain."]
    return lines + [f"  {safe_text(text)}" for text in notes.lacking]


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


def _java(files: list[tuple[Cert, Path]], merged: Path | None, notes: KitNotes) -> list[str]:
    password = notes.java_password
    lines: list[str] = []
    if merged is not None and notes.java_base is not None:
        lines += [
            "Java: use the merged truststore, or add the certificates to your own store.",
            "",
            f"A. Merged truststore {merged.name} (PKCS#12, password {password}): the "
            f"{len(notes.java_base.trusted)} entries of {safe_text(notes.store or 'your store')}",
            f"   plus the {len(files)} CA certificate(s) below, so it replaces that store",
            "   without losing any of its entries:",
            f"     keytool -list -keystore {merged.name} -storepass {password}",
            f"     java -Djavax.net.ssl.trustStore=/path/to/{merged.name} \\",
            f"          -Djavax.net.ssl.trustStorePassword={password} \\",
            "          -Djavax.net.ssl.trustStoreType=PKCS12 ...",
            "",
            "B. Or add the certificates to the keystore your client uses, with keytool:",
        ]
    else:
        why = f" ({safe_text(notes.java_no_merge)})" if notes.java_no_merge else ""
        lines += [
            "Java: add these CA certificates to the truststore your client uses. No ready",
            "truststore is written: one holding only these certificates would replace the",
            f"client's store and lose every other CA it trusts{why}.",
            "",
            "With keytool, into the keystore your client uses (its path and password):",
        ]
    for cert, path in files:
        lines.append(
            "     keytool -importcert -noprompt -keystore /path/to/truststore -storepass PASSWORD "
            f"-alias {java_alias(cert)} -file {path.name}"
        )
    lines += [
        "   or into the JDK's cacerts (JDK 9+; older JDKs instead of -cacerts:",
        "   -keystore $JAVA_HOME/jre/lib/security/cacerts):",
    ]
    for cert, path in files:
        lines.append(
            "     keytool -importcert -noprompt -trustcacerts -cacerts -storepass changeit "
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
        store = "Root" if cert.is_root else "CA"
        lines.append(f'     certutil -addstore -f {store} "{path.name}"')
    return lines + ["", "Files:"] + _listing(files)


def _macos(files: list[tuple[Cert, Path]]) -> list[str]:
    lines = ["macOS: roots become trusted anchors; intermediates are only added.", ""]
    for cert, path in files:
        if cert.is_root:
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


def write_kit(
    certs: list[Cert], directory: Path, platform: str, notes: KitNotes | None = None
) -> list[Path]:
    """Write the kit for `platform` into `directory`; return the files written, INSTALL.txt last."""
    if platform not in KITS:
        raise ValueError(f"unknown kit {platform!r}; expected one of {', '.join(KITS)}")
    notes = notes or KitNotes()
    directory.mkdir(parents=True, exist_ok=True)
    certs = _ordered(list({c.sha256: c for c in certs}.values()))
    extra: list[Path] = []
    if platform == "ibmi":
        files = _write_pem_files(certs, directory, ".cer")
        text = _ibmi(files)
    elif platform == "java":
        files = _write_pem_files(certs, directory, ".crt")
        merged = None
        if notes.java_base is not None and certs:
            name = merged_truststore_name(notes.store or "truststore")
            merged = write_merged_truststore(
                notes.java_base, certs, directory, name, notes.java_password
            )
            extra.append(merged)
        text = _java(files, merged, notes)
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
    text = warning_lines(certs, notes) + text + _lacking_lines(notes)
    install = _inside(directory, INSTALL_FILE_NAME)
    install.write_text("\n".join(text) + "\n")
    return [path for _, path in files] + extra + [install]
