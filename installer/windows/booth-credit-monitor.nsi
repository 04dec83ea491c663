; Booth Credit Monitor: a per-user Windows installer (no administrator prompt).
;
;   makensis -DPAYLOAD=dist/booth-credit-monitor -DVERSION=0.1.0 [-DICON=build/icons/app-icon.ico]
;            [-DOUTFILE=booth-credit-monitor-setup.exe] installer/windows/booth-credit-monitor.nsi
;
; Installs the one-folder bundle into %LOCALAPPDATA%\Programs\Booth Credit Monitor (the same path
; on every upgrade, so a taskbar pin and the start-at-login entry keep pointing at it), adds a
; Start-menu shortcut carrying the app's AppUserModelID, optionally the HKCU Run value for start
; at login, and an uninstaller that keeps the operator's data unless asked.
;
; Silent: setup.exe /S [/AUTOSTART=0|1] ; uninstall.exe /S [/DELETEDATA]
; The app's data (settings, job history, logs) is in %LOCALAPPDATA%\booth-credit-monitor.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma
ManifestDPIAware true

!ifndef PAYLOAD
  !error "Give the bundle folder: -DPAYLOAD=dist/booth-credit-monitor"
!endif
!ifndef VERSION
  !define VERSION "0.0.0"
!endif
!ifndef OUTFILE
  !define OUTFILE "booth-credit-monitor-setup-${VERSION}.exe"
!endif

!define APP_NAME "Booth Credit Monitor"
!define APP_EXE "booth-credit-monitor.exe"
!define CLI_EXE "booth-credit-monitor-cli.exe"
!define APP_ID "BoothCreditMonitor.Tray"     ; app/__init__.py APP_USER_MODEL_ID
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "BoothCreditMonitor"         ; app/adapters/system/autostart.py RUN_VALUE
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\BoothCreditMonitor"
!define DATA_DIR "$LOCALAPPDATA\booth-credit-monitor"

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "shortcut_appid.nsh"

Name "${APP_NAME}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
BrandingText "${APP_NAME} ${VERSION}"
!ifdef ICON
  !define MUI_ICON "${ICON}"
  !define MUI_UNICON "${ICON}"
!endif

VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "${APP_NAME}"

!define MUI_COMPONENTSPAGE_NODESC
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME} now"
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Var DeleteData

Section "${APP_NAME}" SecApp
  SectionIn RO
  SetShellVarContext current
  Call StopRunningCopy
  ; Upgrade in place: the old bundle's libraries go first, so none of them lingers beside the
  ; new ones; the folder (and so every shortcut, pin and Run value) stays the same.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}/*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateShortcut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
  !insertmacro SetShortcutAppId "$SMPROGRAMS\${APP_NAME}.lnk" "${APP_ID}"

  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${APP_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" $0
SectionEnd

Section "Start when I log in" SecAutostart
  WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\${APP_EXE}"'
SectionEnd

Section "-StartAtLoginOff"
  ; Unticked: the app must not start at login, whatever an older install had set.
  ${IfNot} ${SectionIsSelected} ${SecAutostart}
    DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  ${EndIf}
SectionEnd

Function .onInit
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/AUTOSTART=" $R1
  ${IfNot} ${Errors}
    ${If} $R1 == "0"
      !insertmacro UnselectSection ${SecAutostart}
    ${EndIf}
  ${Else}
    ; An upgrade keeps the operator's choice: Settings may have switched start at login off.
    ReadRegStr $R2 HKCU "${UNINST_KEY}" "InstallLocation"
    ReadRegStr $R3 HKCU "${RUN_KEY}" "${RUN_VALUE}"
    ${If} $R2 != ""
    ${AndIf} $R3 == ""
      !insertmacro UnselectSection ${SecAutostart}
    ${EndIf}
  ${EndIf}
FunctionEnd

; Its files are in use while it runs. First ask it to quit the way its menu does (the queue
; handed back, the store closed: `quit` waits until its process has ended); kill it only if it is
; still there after that, which is safe too: every job is on disk before it is sent, and the queue
; survives a kill at any moment (benchmarks/kill_harness.py).
!macro STOP_RUNNING_COPY
  ${If} ${FileExists} "$INSTDIR\${CLI_EXE}"
    nsExec::Exec '"$INSTDIR\${CLI_EXE}" quit --wait 15'
    Pop $0
  ${EndIf}
  nsExec::Exec 'taskkill /F /IM "${APP_EXE}"'
  Pop $0
  ${If} $0 == 0
    Sleep 1000
  ${EndIf}
!macroend

Function StopRunningCopy
  !insertmacro STOP_RUNNING_COPY
FunctionEnd

Section /o "un.Also delete my settings, job history and logs" UnSecData
  StrCpy $DeleteData 1
SectionEnd

Section "un.${APP_NAME}" UnSecApp
  SectionIn RO
  SetShellVarContext current
  !insertmacro STOP_RUNNING_COPY
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  ; Only what the installer put there: a folder chosen by hand may hold other things.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\booth-credit-monitor.exe"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINST_KEY}"
  ${If} $DeleteData == 1
    RMDir /r "${DATA_DIR}"
  ${EndIf}
SectionEnd

Function un.onInit
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/DELETEDATA" $R1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${UnSecData}
  ${EndIf}
FunctionEnd
