; Put an AppUserModelID on a shortcut with NSIS's own System plugin (no third-party plugin):
; load the .lnk through IShellLinkW + IPersistFile, set PKEY_AppUserModel_ID through its
; IPropertyStore, commit and save. Windows then treats the Start-menu shortcut and the running
; app (which sets the same ID at start) as one app: one taskbar button, one pin, notifications
; under its name. Pointers are `p`, so this works for the amd64 target.
;
;   !insertmacro SetShortcutAppId "$SMPROGRAMS\App.lnk" "Company.App"

!define /ifndef CLSID_ShellLink "{00021401-0000-0000-C000-000000000046}"
!define /ifndef IID_IShellLinkW "{000214F9-0000-0000-C000-000000000046}"
!define /ifndef IID_IPersistFile "{0000010b-0000-0000-C000-000000000046}"
!define /ifndef IID_IPropertyStore "{886D8EEB-8CF2-4446-8D02-CDBA1DBDCF99}"
!define /ifndef FMTID_AppUserModel "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}"
!define /ifndef VT_LPWSTR 31

!macro SetShortcutAppId LINK APPID
  Push "${LINK}"
  Push "${APPID}"
  Call SetShortcutAppId
!macroend

Function SetShortcutAppId
  Exch $0          ; the AppUserModelID
  Exch
  Exch $1          ; the shortcut's path
  Push $2
  Push $3
  Push $4
  Push $5
  Push $6
  Push $7
  StrCpy $7 "no shell link"
  System::Call 'ole32::CoCreateInstance(g "${CLSID_ShellLink}", p 0, i 1, g "${IID_IShellLinkW}", *p .r2) i .r7'
  ${If} $7 = 0
    System::Call '$2->0(g "${IID_IPersistFile}", *p .r3) i .r7'        ; QueryInterface
    ${If} $7 = 0
      System::Call '$3->5(w r1, i 2) i .r7'                            ; Load(path, STGM_READWRITE)
      ${If} $7 = 0
        System::Call '$2->0(g "${IID_IPropertyStore}", *p .r4) i .r7'
        ${If} $7 = 0
          System::Call '*(&g16 "${FMTID_AppUserModel}", i 5) p .r5'     ; PROPERTYKEY, pid 5
          System::Call '*(&i2 ${VT_LPWSTR}, &i2 0, &i2 0, &i2 0, w r0, p 0) p .r6'  ; PROPVARIANT
          System::Call '$4->6(p r5, p r6) i .r7'                        ; SetValue
          ${If} $7 = 0
            System::Call '$4->7() i .r7'                                ; Commit
          ${EndIf}
          System::Free $5
          System::Free $6
          System::Call '$4->2()'                                        ; Release
          ${If} $7 = 0
            System::Call '$3->6(p 0, i 1) i .r7'                        ; Save(NULL, TRUE)
          ${EndIf}
        ${EndIf}
      ${EndIf}
      System::Call '$3->2()'
    ${EndIf}
    System::Call '$2->2()'
  ${EndIf}
  DetailPrint "AppUserModelID $0 on $1: $7 (0 is done)"
  Pop $7
  Pop $6
  Pop $5
  Pop $4
  Pop $3
  Pop $2
  Pop $1
  Pop $0
FunctionEnd
