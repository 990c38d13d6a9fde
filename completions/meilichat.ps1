# PowerShell completion for meilichat.
#
# Try it:     meilichat completions powershell | Out-String | Invoke-Expression
# Install it: add that line to your profile (notepad $PROFILE).
#
# This is the output of `meilichat completions powershell`: regenerate it rather than edit it.

Register-ArgumentCompleter -Native -CommandName meilichat -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $line = $commandAst.Extent.Text
    $upToCursor = $cursorPosition - $commandAst.Extent.StartOffset
    if ($upToCursor -lt $line.Length) { $line = $line.Substring(0, [Math]::Max($upToCursor, 0)) }
    # An empty word means the cursor is past a space: the next word has not started yet.
    if ($wordToComplete -eq '' -and -not $line.EndsWith(' ')) { $line += ' ' }
    $env:_MEILICHAT_COMPLETE = 'complete_powershell'
    $env:_MEILICHAT_COMPLETE_LINE = $line
    try {
        meilichat 2>$null | ForEach-Object {
            $kind, $prefix, $value, $description = $_ -split "`t", 4
            if ($kind -eq 'plain') {
                $text = $prefix + $value
                if (-not $description) { $description = $text }
                [System.Management.Automation.CompletionResult]::new(
                    $text, $text, 'ParameterValue', $description)
            }
        }
    } finally {
        Remove-Item Env:_MEILICHAT_COMPLETE, Env:_MEILICHAT_COMPLETE_LINE -ErrorAction Ignore
    }
}
