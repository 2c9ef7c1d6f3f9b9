; Inno Setup 6 script for the Inspector Windows installer; compiled by packaging\build.ps1:
;   ISCC.exe /DAppVersion=0.1.0 /DVariant=cpu /DBundleDir=packaging\dist\cpu\inspector packaging\inspector.iss
; Per-user install (no admin rights): %LOCALAPPDATA%\Programs\Inspector, Start-menu and optional
; desktop shortcut, an uninstaller. Workspaces and models live in %LOCALAPPDATA%\Inspector and are
; kept on uninstall.
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef BundleDir
  #define BundleDir "dist\" + Variant + "\inspector"
#endif

[Setup]
AppId={{6C1B2E4A-8D2F-4B7E-9A51-3E0F7C2D9B14}
AppName=Inspector
AppVersion={#AppVersion}
AppVerName=Inspector {#AppVersion} ({#Variant})
AppPublisher=Inspector
DefaultDirName={localappdata}\Programs\Inspector
DefaultGroupName=Inspector
PrivilegesRequired=lowest
DisableProgramGroupPage=yes
OutputBaseFilename=inspector-{#AppVersion}-windows-{#Variant}-setup
SetupIconFile=inspector.ico
UninstallDisplayIcon={app}\inspector.exe
Compression=lzma2/fast
SolidCompression=no
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Inspector"; Filename: "{app}\inspector.exe"; IconFilename: "{app}\inspector.exe"
Name: "{group}\Inspector self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\inspector.exe"" --self-test"
Name: "{group}\Uninstall Inspector"; Filename: "{uninstallexe}"
Name: "{userdesktop}\Inspector"; Filename: "{app}\inspector.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\inspector.exe"; Description: "{cm:LaunchProgram,Inspector}"; Flags: nowait postinstall skipifsilent
