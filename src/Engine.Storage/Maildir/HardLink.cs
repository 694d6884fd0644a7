using System.Runtime.InteropServices;

namespace Engine.Storage.Maildir;

/// <summary>link(2): a second name for a file, so a copied message takes no space twice.</summary>
internal static partial class HardLink
{
    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string created);

    public static bool TryCreate(string existing, string created)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return false;
        try
        {
            return Link(existing, created) == 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }
}
