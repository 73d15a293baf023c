using System.Globalization;

namespace Tolapai.Xen.XenStore;

/// <summary>XenStore path rules as xenstored's <c>canonicalize</c> and <c>is_valid_nodename</c>.</summary>
public static class XsPath
{
    /// <summary>The home of a domain: /local/domain/&lt;domid&gt; (xenstored's get_implicit_path).</summary>
    public static string DomainPath(uint domid) => "/local/domain/" + domid.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A client's path made absolute: a path not starting with '/' or '@' is relative to the
    /// connection's domain home, for dom0 too (as xenstored does).
    /// </summary>
    public static string Canonicalize(string path, uint domid) =>
        path.Length > 0 && (path[0] == '/' || path[0] == '@') ? path : DomainPath(domid) + "/" + path;

    /// <summary>
    /// Whether an absolute path is a valid node name: starts with '/' (or '@' where special
    /// names are allowed), no trailing or double '/', only <c>[A-Za-z0-9-/_@]</c>, at most
    /// <see cref="XsLimits.AbsolutePathMax"/> bytes and at most <see cref="XsLimits.RelativePathMax"/>
    /// below /local/domain/&lt;id&gt;/.
    /// </summary>
    public static bool IsValid(string path, bool allowSpecial)
    {
        if (path.Length == 0)
            return false;
        if (path[0] != '/' && !(allowSpecial && path[0] == '@'))
            return false;
        if (path.Length > 1 && path[^1] == '/')
            return false;
        if (path.Contains("//", StringComparison.Ordinal))
            return false;
        if (path.Length > XsLimits.AbsolutePathMax)
            return false;
        if (path.Length - LocalOffset(path) > XsLimits.RelativePathMax)
            return false;
        foreach (char c in path)
            if (!(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '-' or '/' or '_' or '@'))
                return false;
        return true;
    }

    /// <summary>Length of a leading "/local/domain/&lt;up to 5 digits&gt;/", else 0 (sscanf's %n in xenstored).</summary>
    private static int LocalOffset(string path)
    {
        const string Prefix = "/local/domain/";
        if (!path.StartsWith(Prefix, StringComparison.Ordinal))
            return 0;
        int i = Prefix.Length, digits = 0;
        while (i < path.Length && digits < 5 && path[i] is >= '0' and <= '9')
        {
            i++;
            digits++;
        }
        return digits > 0 && i < path.Length && path[i] == '/' ? i + 1 : 0;
    }

    /// <summary>The parent of an absolute path ("/" for a top-level node).</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>The last component of an absolute path.</summary>
    public static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>Whether <paramref name="path"/> is <paramref name="ancestor"/> or below it.</summary>
    public static bool IsAtOrBelow(string path, string ancestor) =>
        ancestor == "/" ? path.StartsWith('/') :
        path.StartsWith(ancestor, StringComparison.Ordinal) && (path.Length == ancestor.Length || path[ancestor.Length] == '/');

    /// <summary>A child's absolute path.</summary>
    public static string Child(string parent, string name) => parent == "/" ? "/" + name : parent + "/" + name;
}
