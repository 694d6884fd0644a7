using System.Security.Cryptography;

namespace Engine.Web.Admin;

/// <summary>
/// The admin API's bearer token, kept in a file only its owner (and group) reads: made at the first start when
/// missing, so a fresh node is never open and enginectl on the same machine finds it without setup. Nodes that
/// share a data folder and start together agree on one token: it is written to a temporary file and moved into
/// place without overwriting, so the first one wins and the others read it.
/// </summary>
public static class AdminToken
{
    public static string LoadOrCreate(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (!File.Exists(path))
            Create(path);
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
            throw new InvalidOperationException($"{path}: the admin token file is readable or writable by anyone; chmod o-rw it");
        var token = File.ReadAllText(path).Trim();
        return token.Length >= 16 ? token : throw new InvalidOperationException($"{path}: the admin token is shorter than 16 characters");
    }

    private static void Create(string path)
    {
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temporary, options))
        {
            file.Write(System.Text.Encoding.ASCII.GetBytes(token + "\n"));
            file.Flush(flushToDisk: true);
        }
        try
        {
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(temporary); // another node of the same data folder was first: its token stands
        }
    }
}
