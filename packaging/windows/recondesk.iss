; Inno Setup 6 script: the Windows installer of Recondesk, from the PyInstaller one-folder bundle.
;   py -3.11 -m venv build\pkg-venv ; build\pkg-venv\Scripts\pip install . pyinstaller "psycopg[binary]"
;   build\pkg-venv\Scripts\pyinstaller --noconfirm --distpath build\dist --workpath build\work packaging\recondesk.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\recondesk.iss      -> dist\recondesk-0.1.0-windows-x64-setup.exe
; Secrets go to the Windows Credential Manager (keyring.backends.Windows, through pywin32-ctypes: the spec collects
; both). Installs per user by default (no administrator needed); data stays in %LOCALAPPDATA%\Recondesk on uninstall.
; Not run or signed here (see packaging/README.md): signing needs a code-signing certificate (SignTool=...).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{6F1C2B9E-7A53-4C0E-9B1D-5E0A7C3D2F41}
AppName=Recondesk
AppVersion={#AppVersion}
AppPublisher=Recondesk
DefaultDirName={autopf}\Recondesk
DefaultGroupName=Recondesk
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=recondesk-{#AppVersion}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\recondesk.exe
DisableProgramGroupPage=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\build\dist\recondesk\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Recondesk"; Filename: "{app}\recondesk.exe"
Name: "{group}\Recondesk demo (no account needed)"; Filename: "{app}\recondesk.exe"; Parameters: "--demo"
Name: "{autodesktop}\Recondesk"; Filename: "{app}\recondesk.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\recondesk.exe"; Parameters: "--demo"; Description: "Open the demo now"; Flags: nowait postinstall skipifsilent unchecked
