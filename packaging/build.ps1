<#
.SYNOPSIS
  Build the Inspector bundle and its Windows installer (the Windows equivalent of build.sh).

.DESCRIPTION
  Run from a clone of the repository in PowerShell on Windows 10/11 x64 with Python 3.11
  (python.org installer, "py" launcher) and Inno Setup 6 (ISCC.exe on PATH or in its default
  folder). No admin rights are needed to build or to install.

    powershell -ExecutionPolicy Bypass -File packaging\build.ps1 -Variant cpu
    powershell -ExecutionPolicy Bypass -File packaging\build.ps1 -Variant gpu

  1. Makes a build venv packaging\.venv-<variant> and installs the pinned dependencies
     (cpu: torch 2.13.0 + torchvision 0.28.0, which are CPU builds on PyPI for Windows;
     gpu: constraints.txt, with torch's CUDA 13.0 wheels from the PyTorch index).
  2. Runs PyInstaller with packaging\inspector.spec -> packaging\dist\<variant>\inspector\inspector.exe
  3. Runs the bundle's self-test (inspector.exe --self-test) from a copy outside the checkout.
  4. Compiles packaging\inspector.iss with Inno Setup -> packaging\dist\inspector-<version>-windows-<variant>-setup.exe
     (per-user install to %LOCALAPPDATA%\Programs\Inspector, Start-menu entry, uninstaller).

  Not run in this project's CI (Linux only): this script and the .iss are untested there.
#>
param([ValidateSet("cpu", "gpu")][string]$Variant = "cpu", [string]$Python = "py -3.11")
$ErrorActionPreference = "Stop"
$here = Split-Path -Parent $MyInvocation.MyCommand.Path
$repo = Split-Path -Parent $here
Set-Location $repo
$venv = Join-Path $here ".venv-$Variant"
$t0 = Get-Date

# Constraints: the project's pins; the CPU bundle swaps CUDA torch for the CPU wheel.
$cons = Join-Path $here ".constraints-$Variant.txt"
if ($Variant -eq "cpu") {
  Get-Content constraints.txt | Where-Object { $_ -notmatch '^(torch|torchvision|triton|nvidia-[a-z0-9-]+|cuda-[a-z-]+)==' } | Set-Content $cons
  Add-Content $cons "torch==2.13.0", "torchvision==0.28.0"
  $extra = @()
} else {
  Copy-Item constraints.txt $cons
  $extra = @("--extra-index-url", "https://download.pytorch.org/whl/cu130")
}
if (-not (Test-Path "$venv\Scripts\python.exe")) { Invoke-Expression "$Python -m venv `"$venv`"" }
$req = & "$venv\Scripts\python.exe" -c "import tomllib;p=tomllib.load(open('pyproject.toml','rb'))['project'];print('\n'.join(p['dependencies']+p['optional-dependencies']['package']))"
$req | Set-Content (Join-Path $here ".requirements.txt")
& "$venv\Scripts\pip.exe" install -q -c $cons -r (Join-Path $here ".requirements.txt") @extra
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

$dist = Join-Path $here "dist\$Variant"
$env:INSPECTOR_VARIANT = $Variant
$env:PYTHONPATH = $repo
& "$venv\Scripts\python.exe" -m PyInstaller --noconfirm --log-level WARN --distpath $dist --workpath (Join-Path $here "build\$Variant") (Join-Path $here "inspector.spec")
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

# Self-test from a copy outside the checkout, so nothing is imported from the source tree.
$copy = Join-Path $env:TEMP "inspector-selftest-$Variant"
if (Test-Path $copy) { Remove-Item -Recurse -Force $copy }
Copy-Item -Recurse (Join-Path $dist "inspector") $copy
Push-Location $env:TEMP
& (Join-Path $copy "inspector.exe") --version
& (Join-Path $copy "inspector.exe") --self-test
$ok = $LASTEXITCODE
Pop-Location
Remove-Item -Recurse -Force $copy
if ($ok -ne 0) { throw "self-test failed" }

$version = (Select-String -Path inspector\__init__.py -Pattern '__version__ = "(.*)"').Matches[0].Groups[1].Value
$iscc = (Get-Command ISCC.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $iscc "/DAppVersion=$version" "/DVariant=$Variant" "/DBundleDir=$dist\inspector" "/O$(Join-Path $here 'dist')" (Join-Path $here "inspector.iss")
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
"done in {0:N0} s: packaging\dist\inspector-$version-windows-$Variant-setup.exe" -f ((Get-Date) - $t0).TotalSeconds
