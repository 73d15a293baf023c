namespace Tolapai.Xen.XenStore;

/// <summary>One node: value, permissions, children in creation order, and the store generation of its last change.</summary>
internal sealed class XsNode
{
    public byte[] Value = [];
    public XsPermission[] Perms = [new XsPermission(0, XsAccess.None)];
    public List<string> Children = [];
    public ulong Generation;

    /// <summary>A copy to change: nodes in a view are never changed in place.</summary>
    public XsNode Clone() => new() { Value = Value, Perms = Perms, Children = [.. Children], Generation = Generation };
}

/// <summary>What the store operations work on: the live tree, or a transaction over it.</summary>
internal interface IXsView
{
    XsNode? Get(string path);

    void Put(string path, XsNode node);

    void Remove(string path);

    /// <summary>Nodes owned by a domain (for the nodes quota).</summary>
    int OwnedNodes(uint domid);
}

/// <summary>The live tree: a map from absolute path to node, with per-owner node counts.</summary>
internal sealed class XsTree : IXsView
{
    private readonly Dictionary<string, XsNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, int> _owned = [];
    private ulong _generation;

    public XsTree()
    {
        // As xenstored's setup_structure: "/", "/tool", "/tool/xenstored", owned by dom0, no access for others.
        _nodes["/"] = new XsNode { Children = ["tool"], Generation = ++_generation };
        _nodes["/tool"] = new XsNode { Children = ["xenstored"], Generation = ++_generation };
        _nodes["/tool/xenstored"] = new XsNode { Generation = ++_generation };
        // The special watch nodes: not in the tree, but with permissions that say who sees their events.
        _nodes[XenStoreDaemon.IntroduceDomainPath] = new XsNode { Generation = ++_generation };
        _nodes[XenStoreDaemon.ReleaseDomainPath] = new XsNode { Generation = ++_generation };
        _owned[0] = 5;
    }

    public ulong Generation => _generation;

    public XsNode? Get(string path) => _nodes.GetValueOrDefault(path);

    public ulong GenerationOf(string path) => _nodes.TryGetValue(path, out XsNode? n) ? n.Generation : 0;

    public void Put(string path, XsNode node)
    {
        if (_nodes.TryGetValue(path, out XsNode? old))
            Tally(old.Perms[0].DomId, -1);
        node.Generation = ++_generation;
        _nodes[path] = node;
        Tally(node.Perms[0].DomId, +1);
    }

    public void Remove(string path)
    {
        if (_nodes.Remove(path, out XsNode? old))
        {
            Tally(old.Perms[0].DomId, -1);
            _generation++;
        }
    }

    public int OwnedNodes(uint domid) => _owned.GetValueOrDefault(domid);

    private void Tally(uint domid, int delta) => _owned[domid] = _owned.GetValueOrDefault(domid) + delta;
}

/// <summary>
/// A transaction: changed nodes live in an overlay; every node it looks at is remembered with
/// the generation it had, and the commit fails (EAGAIN) if any of them changed meanwhile —
/// xenstored's optimistic scheme with per-node generation counts.
/// </summary>
internal sealed class XsTransaction : IXsView
{
    private readonly XsTree _live;
    private readonly Dictionary<string, ulong> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, XsNode?> _overlay = new(StringComparer.Ordinal);
    private readonly Dictionary<uint, int> _ownedDelta = [];

    public XsTransaction(uint id, XsTree live)
    {
        Id = id;
        _live = live;
    }

    public uint Id { get; }

    /// <summary>Changes to fire watches for when the transaction commits.</summary>
    public List<XsChange> Changes { get; } = [];

    public XsNode? Get(string path)
    {
        if (_overlay.TryGetValue(path, out XsNode? mine))
            return mine;
        XsNode? live = _live.Get(path);
        _seen.TryAdd(path, live?.Generation ?? 0);
        return live;
    }

    public void Put(string path, XsNode node)
    {
        if (Get(path) is XsNode old)
            Delta(old.Perms[0].DomId, -1);
        _overlay[path] = node;
        Delta(node.Perms[0].DomId, +1);
    }

    public void Remove(string path)
    {
        if (Get(path) is XsNode old)
            Delta(old.Perms[0].DomId, -1);
        _overlay[path] = null;
    }

    public int OwnedNodes(uint domid) => _live.OwnedNodes(domid) + _ownedDelta.GetValueOrDefault(domid);

    /// <summary>Applies the overlay if nothing it saw has changed; false means EAGAIN.</summary>
    public bool TryCommit()
    {
        foreach ((string path, ulong generation) in _seen)
            if (_live.GenerationOf(path) != generation)
                return false;
        foreach ((string path, XsNode? node) in _overlay)
        {
            if (node is null)
                _live.Remove(path);
            else
                _live.Put(path, node);
        }
        return true;
    }

    private void Delta(uint domid, int delta) => _ownedDelta[domid] = _ownedDelta.GetValueOrDefault(domid) + delta;
}

/// <summary>A change that fires watches: the node's path, its permissions (who may see the event), and whether a subtree went away.</summary>
internal readonly record struct XsChange(string Path, XsPermission[] Perms, bool Removed);
