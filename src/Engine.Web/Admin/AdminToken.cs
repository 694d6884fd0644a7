using System.Security.Cryptography;

namespace Engine.Web.Admin;

/// <summary>
/// The admin API's bearer token, kept in a file only its owner reads (0600): made at the first start when
/// missing, so a fresh node is never open and enginectl on the same machine finds it without setup.
/// </summary>
public static class AdminToken
{
    public static string LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (existing.Length < 16)
                throw new InvalidOperationException($"{path}: the admin token is shorter than 16 characters");
            return existing;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new StreamWriter(path, options))
            file.WriteLine(token);
        return token;
    }
}
